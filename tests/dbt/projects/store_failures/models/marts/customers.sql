select c.customer_id, c.name, c.email, c.region, count(o.order_id) as number_of_orders
from {{ ref('stg_customers') }} as c
left join {{ ref('stg_orders') }} as o using (customer_id)
group by 1, 2, 3, 4
