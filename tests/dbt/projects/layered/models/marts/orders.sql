select
    o.order_id,
    o.customer_id,
    o.order_date,
    o.status,
    coalesce(p.payment_count, 0) as payment_count,
    coalesce(p.total_amount, 0) as amount,
    coalesce(p.promotion_amount, 0) as promotion_amount
from {{ ref('stg_orders') }} as o
left join {{ ref('int_order_payments') }} as p using (order_id)
