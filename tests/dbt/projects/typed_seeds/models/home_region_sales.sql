{{ config(materialized='view') }}

select *
from {{ ref('store_sales') }}
where region = '{{ var("home_region") }}'
  and transactions >= {{ var('min_transactions', 1) }}
