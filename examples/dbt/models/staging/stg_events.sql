select
    e.eventid as event_id,
    e.eventname as event_name,
    e.starttime as starts_at,
    c.catgroup as category_group,
    c.catname as category_name,
    v.venuename as venue_name,
    v.venuecity as venue_city,
    v.venuestate as venue_state
from {{ source('tickit', 'event') }} as e
join {{ source('tickit', 'category') }} as c on c.catid = e.catid
join {{ source('tickit', 'venue') }} as v on v.venueid = e.venueid
