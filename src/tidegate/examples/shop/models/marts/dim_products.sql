{{ config(materialized='table') }}

with sales as (
    select
        items.product_id,
        count(distinct items.order_id)                  as order_count,
        sum(items.quantity)                             as units_sold
    from {{ ref('stg_order_items') }} as items
    join {{ ref('stg_orders') }} as orders
        on items.order_id = orders.order_id
    where orders.status <> 'returned'
    group by items.product_id
)

select
    products.product_id,
    products.product_name,
    products.category,
    products.unit_price,
    coalesce(sales.order_count, 0)                      as order_count,
    coalesce(sales.units_sold, 0)                       as units_sold,
    coalesce(sales.units_sold, 0) * products.unit_price as revenue
from {{ ref('stg_products') }} as products
left join sales
    on products.product_id = sales.product_id
