-- Every order that has been paid (and every order past the 'placed' stage)
-- must have payments summing exactly to its total. Returns the failing orders.
select
    order_id,
    status,
    order_total,
    amount_paid
from {{ ref('fct_orders') }}
where
    (status <> 'placed' or payment_count > 0)
    and amount_paid <> order_total
