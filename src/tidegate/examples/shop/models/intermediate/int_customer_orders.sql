-- One row per customer who ordered at least once. Returned orders count
-- towards order_count but not towards lifetime_value.
select
    orders.customer_id,
    count(*)                                        as order_count,
    count(*) filter (where orders.status = 'returned') as returned_order_count,
    min(orders.order_date)                          as first_order_date,
    max(orders.order_date)                          as last_order_date,
    coalesce(sum(totals.order_total) filter (where orders.status <> 'returned'), 0) as lifetime_value
from {{ ref('stg_orders') }} as orders
left join {{ ref('int_order_totals') }} as totals
    on orders.order_id = totals.order_id
group by orders.customer_id
