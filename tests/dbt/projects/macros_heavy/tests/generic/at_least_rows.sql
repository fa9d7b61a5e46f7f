{% test at_least_rows(model, min_rows=1) %}
select count(*) as n from {{ model }} having count(*) < {{ min_rows }}
{% endtest %}
