{{ config(materialized='view') }}

select
    id                                  as customer_id,
    first_name,
    last_name,
    first_name || ' ' || last_name      as full_name,
    lower(email)                        as email,
    upper(country)                      as country_code,
    cast(created_at as date)            as signed_up_on
from {{ ref('raw_customers') }}
