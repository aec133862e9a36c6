-- Reserved for the change that numbers its migration 009; on this branch it does
-- nothing, so that 010 applies. Drop this file when that migration lands.
select 1;
