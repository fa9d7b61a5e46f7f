{{ config(
    alias='revenue_by_day',
    post_hook="delete from {{ this }} where revenue <= 0"
) }}

-- Returns (negative quantities) are removed by the post-hook, not by this query.
select
    s.sold_on,
    s.channel,
    sum(s.quantity) as units,
    round(sum(s.quantity * p.list_price), 2) as revenue
from {{ ref('stg_sales') }} as s
join {{ ref('stg_products') }} as p using (product_id)
group by s.sold_on, s.channel
