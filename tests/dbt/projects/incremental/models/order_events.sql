{{ config(materialized='incremental', incremental_strategy='append') }}

-- An append-only log of every (order, status) seen.
select order_id, status, updated_at
from {{ source('shop', 'orders') }}
{% if is_incremental() %}
where updated_at > (select max(updated_at) from {{ this }})
{% endif %}
