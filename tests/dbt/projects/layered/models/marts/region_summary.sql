{{ config(materialized='view') }}

select
    region,
    count(*) as customers,
    sum(number_of_orders) as orders,
    round(sum(lifetime_value), 2) as revenue
from {{ ref('customers') }}
group by region
