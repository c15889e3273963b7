-- A test double of FusionPBX's resources.functions.send_mail, written for
-- these tests: FusionPBX's queues the message in v_email_queue for its
-- e-mail service; this one does the same with the arguments it is given,
-- so the tests read what a ring group sent from the database.
return function(headers, email_from, email_to, message)
	local dbh = freeswitch.Dbh(database.system)
	local function q(v) return "'" .. tostring(v or ""):gsub("'", "''") .. "'" end
	local uuid = headers["X-FusionPBX-Call-UUID"] or "no-call"
	assert(dbh:query("INSERT INTO v_email_queue (email_queue_uuid, domain_uuid, hostname, email_from, email_to, "
		.. "email_subject, email_body, email_status, email_uuid) VALUES (" .. table.concat({
			q("q-" .. uuid), q(headers["X-FusionPBX-Domain-UUID"]), q("fsmock"), q(email_from), q(email_to),
			q(message[1]), q(message[2]), q("waiting"), q(uuid) }, ",") .. ")"), dbh:last_error())
	dbh:release()
	return true
end
