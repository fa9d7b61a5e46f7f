{{ config(materialized='table') }}

-- Revenue counts shipped and completed orders; placed orders are not yet
-- revenue and returned orders are reported separately.
with daily as (
    select
        order_date,
        count(*)                                                    as order_count,
        count(*) filter (where status in ('shipped', 'completed'))  as revenue_order_count,
        coalesce(sum(order_total) filter (where status in ('shipped', 'completed')), 0) as revenue,
        coalesce(sum(order_total) filter (where status = 'returned'), 0) as returned_amount
    from {{ ref('fct_orders') }}
    group by order_date
)

select
    order_date                                          as revenue_date,
    order_count,
    revenue_order_count,
    revenue,
    returned_amount,
    round({{ safe_divide('revenue', 'revenue_order_count') }}, 2) as average_order_value
from daily
