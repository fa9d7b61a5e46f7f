{{ config(schema='reporting', materialized='view') }}

select
    p.category,
    sum(s.quantity) as units,
    round(sum(s.quantity * p.list_price), 2) as revenue
from {{ ref('stg_sales') }} as s
join {{ ref('stg_products') }} as p using (product_id)
where s.quantity > 0
group by p.category
