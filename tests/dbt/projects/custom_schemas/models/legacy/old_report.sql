-- Disabled by the folder config: neither dbt nor tidegate builds it (it would fail).
select * from {{ ref('sales') }} where no_such_column = 1
