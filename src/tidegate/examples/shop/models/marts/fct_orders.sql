{{ config(materialized='table') }}

select
    orders.order_id,
    orders.customer_id,
    orders.ordered_at,
    orders.order_date,
    orders.status,
    coalesce(totals.line_count, 0)                  as line_count,
    coalesce(totals.unit_count, 0)                  as unit_count,
    coalesce(totals.order_total, 0)                 as order_total,
    coalesce(payments.payment_count, 0)             as payment_count,
    coalesce(payments.amount_paid, 0)               as amount_paid,
    coalesce(payments.gift_card_amount, 0)          as gift_card_amount,
    payments.primary_payment_method                 as payment_method,
    coalesce(payments.amount_paid, 0) >= coalesce(totals.order_total, 0) as is_fully_paid
from {{ ref('stg_orders') }} as orders
left join {{ ref('int_order_totals') }} as totals
    on orders.order_id = totals.order_id
left join {{ ref('int_order_payments') }} as payments
    on orders.order_id = payments.order_id
