{{config(materialized='view')}}
select id from {{ source('numbers', 'numbers') }}
