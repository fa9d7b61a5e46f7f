{%- set event_types = var('event_types') -%}

select
    user_id,
    count(*) as events,
    {{ pivot_sum('event_type', event_types, suffix='_events') }},
    {{ pivot_sum('event_type', event_types, then='value', suffix='_value') }},
    {{ parity_utils.safe_divide("count_if(event_type = 'purchase')", 'count(*)') }} as purchase_rate
from {{ ref('stg_events') }}
group by user_id
