{{ config(materialized='view') }}

select s.label, s.is_final, count(o.order_id) as orders, coalesce(sum(o.amount), 0) as amount
from {{ ref('statuses') }} as s
left join {{ ref('orders_current') }} as o using (status)
group by s.label, s.is_final
