select * from {{ ref('stg_events') }} where occurred_at > timestamp '2030-01-01'
