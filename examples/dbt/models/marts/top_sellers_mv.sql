-- A materialized view over the replicated tables (dbt-postgres's `materialized_view`
-- materialization, which zeroetl runs as CREATE / REFRESH MATERIALIZED VIEW in dev). A
-- materialized view reads the replicated tables themselves, not other models' views.
{{ config(materialized='materialized_view') }}
select
    s.sellerid as seller_id,
    u.username,
    sum(s.qtysold) as tickets_sold,
    sum(s.pricepaid) as revenue
from {{ source('tickit', 'sales') }} as s
join {{ source('tickit', 'users') }} as u on u.userid = s.sellerid
group by 1, 2
