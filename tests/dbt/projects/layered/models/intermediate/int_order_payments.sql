select
    order_id,
    count(*) as payment_count,
    sum(amount) as total_amount,
    sum(case when method_group = 'promotion' then amount else 0 end) as promotion_amount
from {{ ref('stg_payments') }}
group by order_id
