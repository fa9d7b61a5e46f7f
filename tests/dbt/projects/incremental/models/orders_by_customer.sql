{{ config(materialized='incremental', unique_key='customer_id', incremental_strategy='delete+insert') }}

-- Recomputes the customers that have new or changed orders.
select customer_id, count(*) as orders, sum(amount) as amount, max(updated_at) as updated_at
from {{ source('shop', 'orders') }}
{% if is_incremental() %}
where customer_id in (
    select customer_id from {{ source('shop', 'orders') }}
    where updated_at > (select max(updated_at) from {{ this }})
)
{% endif %}
group by customer_id
