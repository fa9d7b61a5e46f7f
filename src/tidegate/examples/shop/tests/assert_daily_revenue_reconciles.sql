-- Daily revenue must add up to the revenue of shipped and completed orders.
with daily as (
    select sum(revenue) as revenue from {{ ref('fct_daily_revenue') }}
),

orders as (
    select sum(order_total) as revenue
    from {{ ref('fct_orders') }}
    where status in ('shipped', 'completed')
)

select daily.revenue as daily_revenue, orders.revenue as order_revenue
from daily, orders
where daily.revenue <> orders.revenue
