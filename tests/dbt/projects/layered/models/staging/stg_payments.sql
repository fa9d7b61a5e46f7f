select
    p.id as payment_id,
    p.order_id,
    p.payment_method,
    m.method_group,
    -- amounts are stored in cents
    p.amount_cents / 100.0 as amount
from {{ ref('raw_payments') }} as p
left join {{ source('raw', 'payment_methods') }} as m on m.method = p.payment_method
