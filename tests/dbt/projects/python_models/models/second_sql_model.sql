select * from {{ref('my_python_model')}}
