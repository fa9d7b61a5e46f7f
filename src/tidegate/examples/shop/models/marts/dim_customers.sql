{{ config(materialized='table') }}

select
    customers.customer_id,
    customers.full_name,
    customers.email,
    customers.country_code,
    customers.signed_up_on,
    customer_orders.first_order_date,
    customer_orders.last_order_date,
    coalesce(customer_orders.order_count, 0)            as order_count,
    coalesce(customer_orders.returned_order_count, 0)   as returned_order_count,
    coalesce(customer_orders.lifetime_value, 0)         as lifetime_value,
    round(
        {{ safe_divide(
            'customer_orders.lifetime_value',
            'customer_orders.order_count - customer_orders.returned_order_count'
        ) }},
        2
    )                                                   as average_order_value,
    coalesce(customer_orders.lifetime_value, 0) >= {{ var('high_value_threshold', 500) }} as is_high_value
from {{ ref('stg_customers') }} as customers
left join {{ ref('int_customer_orders') }} as customer_orders
    on customers.customer_id = customer_orders.customer_id
