select id, email, tier, updated_at as valid_since
from {{ ref('customers_snapshot') }}
where dbt_valid_to is null
