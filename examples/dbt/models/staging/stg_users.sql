select
    userid as user_id,
    username,
    firstname || ' ' || lastname as full_name,
    city,
    state
from {{ source('tickit', 'users') }}
