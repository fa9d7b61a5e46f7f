select
    s.zip,
    s.store_name,
    s.region,
    s.is_flagship,
    cast(s.opened_on as date) as opened_on,
    count(t.tx_id) as transactions,
    coalesce(sum(t.amount), 0) as amount
from {{ ref('stores') }} as s
left join {{ ref('transactions') }} as t
    on t.store_zip = s.zip
    and t.amount >= {{ var('min_amount') }}
group by all
