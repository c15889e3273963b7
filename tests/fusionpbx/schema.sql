-- The FusionPBX tables a ring group reads, as FusionPBX 5.x's app_config.php
-- files define them for SQLite (table and column names, and types: uuid is
-- text there, booleans are "boolean"). Only the columns FusionPBX's ring
-- group script, the follow-me and missed-call paths read or write.
-- core/domains
CREATE TABLE v_domains (
	domain_uuid text PRIMARY KEY,
	domain_parent_uuid text,
	domain_name text,
	domain_enabled boolean,
	domain_description text
);
-- app/ring_groups
CREATE TABLE v_ring_groups (
	domain_uuid text,
	ring_group_uuid text PRIMARY KEY,
	ring_group_name text,
	ring_group_extension text,
	ring_group_greeting text,
	ring_group_exit_key text,
	ring_group_call_timeout numeric,
	ring_group_forward_destination text,
	ring_group_forward_enabled boolean,
	ring_group_caller_id_name text,
	ring_group_caller_id_number text,
	ring_group_cid_name_prefix text,
	ring_group_cid_number_prefix text,
	ring_group_strategy text,
	ring_group_timeout_app text,
	ring_group_timeout_data text,
	ring_group_distinctive_ring text,
	ring_group_ringback text,
	ring_group_call_screen_enabled boolean,
	ring_group_call_forward_enabled boolean,
	ring_group_follow_me_enabled boolean,
	ring_group_missed_call_app text,
	ring_group_missed_call_data text,
	ring_group_context text,
	ring_group_enabled boolean,
	ring_group_description text,
	dialplan_uuid text,
	ring_group_forward_toll_allow text,
	ring_group_wait_announcement text,
	ring_group_wait_interval numeric
);
CREATE TABLE v_ring_group_destinations (
	ring_group_destination_uuid text PRIMARY KEY,
	domain_uuid text,
	ring_group_uuid text,
	destination_number text,
	destination_delay numeric,
	destination_timeout numeric,
	destination_enabled text,
	destination_prompt numeric,
	destination_description text
);
CREATE TABLE v_ring_group_users (
	ring_group_user_uuid text PRIMARY KEY,
	domain_uuid text,
	ring_group_uuid text,
	user_uuid text
);
-- app/extensions (the directory FusionPBX serves is made from these rows)
CREATE TABLE v_extensions (
	extension_uuid text PRIMARY KEY,
	domain_uuid text,
	extension text,
	number_alias text,
	toll_allow text,
	user_record text,
	do_not_disturb boolean,
	forward_all_destination text,
	forward_all_enabled boolean,
	forward_user_not_registered_destination text,
	forward_user_not_registered_enabled boolean,
	follow_me_uuid text,
	follow_me_enabled boolean,
	enabled boolean
);
-- app/follow_me
CREATE TABLE v_follow_me (
	domain_uuid text,
	follow_me_uuid text PRIMARY KEY,
	cid_name_prefix text,
	cid_number_prefix text,
	follow_me_enabled boolean,
	follow_me_ignore_busy boolean
);
CREATE TABLE v_follow_me_destinations (
	domain_uuid text,
	follow_me_uuid text,
	follow_me_destination_uuid text PRIMARY KEY,
	follow_me_destination text,
	follow_me_delay numeric,
	follow_me_timeout numeric,
	follow_me_prompt text,
	follow_me_order numeric
);
-- core/email_templates
CREATE TABLE v_email_templates (
	email_template_uuid text PRIMARY KEY,
	domain_uuid text,
	template_language text,
	template_category text,
	template_subcategory text,
	template_subject text,
	template_body text,
	template_type text,
	template_enabled boolean,
	template_description text
);
-- app/email_queue
CREATE TABLE v_email_queue (
	email_queue_uuid text PRIMARY KEY,
	domain_uuid text,
	hostname text,
	email_date date,
	email_from text,
	email_to text,
	email_subject text,
	email_body text,
	email_status text,
	email_retry_count numeric,
	email_action_before text,
	email_action_after text,
	email_uuid text
);
