-- A customer cannot order before their account existed.
select
    orders.order_id,
    orders.order_date,
    customers.signed_up_on
from {{ ref('fct_orders') }} as orders
join {{ ref('dim_customers') }} as customers
    on orders.customer_id = customers.customer_id
where orders.order_date < customers.signed_up_on
