{{ config(materialized='incremental', unique_key='event_id') }}

select
    event_id,
    customer_id,
    event_type,
    occurred_at,
    cast(occurred_at as date)                           as event_date,
    customer_id is null                                 as is_anonymous
from {{ ref('stg_events') }}
{% if is_incremental() %}
    where occurred_at > (select max(occurred_at) from {{ this }})
{% endif %}
