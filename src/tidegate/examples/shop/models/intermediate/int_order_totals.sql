-- One row per order: number of lines, units and the order total from its items.
select
    items.order_id,
    count(*)                                        as line_count,
    sum(items.quantity)                             as unit_count,
    sum(items.quantity * products.unit_price)       as order_total
from {{ ref('stg_order_items') }} as items
join {{ ref('stg_products') }} as products
    on items.product_id = products.product_id
group by items.order_id
