{{ config(materialized='view') }}

select
    {{ parity_utils.surrogate_key(['event_id', 'user_id']) }} as event_key,
    event_id,
    user_id,
    event_type,
    device,
    {{ cents_to_dollars('value_cents') }} as value,
    {{ cents_to_dollars('value_cents', scale=0) }} as value_rounded,
    cast(occurred_at as timestamp) as occurred_at
from {{ ref('raw_events') }}
