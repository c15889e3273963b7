/*
 * scrape.h - reading ringlb's own metrics from a C test: the endpoint
 * ringlb_metrics starts, fetched over a loopback socket.
 *
 *   static typeof(&ringlb_metrics) p_metrics;
 *   LOAD_SYM(so, metrics);
 *   double workers = scrape_metric(p_metrics, "ringlb_workers");
 *   double more = scrape_metric_within(p_metrics, "ringlb_workers", 10, 1e9);
 */
#ifndef RINGLB_SCRAPE_H
#define RINGLB_SCRAPE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringlb.h"

/* scrape_metric returns the value of the unlabelled metric name, or -1 if
 * the endpoint cannot be started or read or has no such line. The endpoint
 * is started on a free loopback port on the first call. */
static inline double scrape_metric(typeof(&ringlb_metrics) p_metrics, const char *name) {
	static char bound[64];
	char err[RINGLB_ERRLEN];
	if (bound[0] == '\0' && p_metrics("127.0.0.1:0", bound, sizeof bound, err, sizeof err) != RINGLB_OK) {
		fprintf(stderr, "ringlb_metrics: %s\n", err);
		return -1;
	}
	const char *colon = strrchr(bound, ':');
	if (colon == NULL)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: ringlb\r\n\r\n";
	if (write(s, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
		close(s);
		return -1;
	}
	size_t cap = 1 << 16, len = 0;
	char *body = malloc(cap);
	ssize_t n;
	while (body != NULL && (n = read(s, body + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap) {
			char *grown = realloc(body, cap *= 2);
			if (grown == NULL)
				free(body);
			body = grown;
		}
	}
	close(s);
	if (body == NULL)
		return -1;
	body[len] = '\0';
	double v = -1;
	size_t nl = strlen(name);
	for (char *p = body; (p = strstr(p, name)) != NULL; p += nl) {
		if ((p == body || p[-1] == '\n') && p[nl] == ' ') {
			v = strtod(p + nl + 1, NULL);
			break;
		}
	}
	free(body);
	return v;
}

/* scrape_metric_within scrapes name until its value is within [lo, hi],
 * every 50 ms for at most 10 s, and returns the last value. The endpoint
 * serves one rendering to the scrapes of the next second, so a change shows
 * within about a second, not at once. */
static inline double scrape_metric_within(typeof(&ringlb_metrics) p_metrics, const char *name, double lo, double hi) {
	double v = scrape_metric(p_metrics, name);
	for (int i = 0; i < 200 && (v < lo || v > hi); i++) {
		usleep(50 * 1000);
		v = scrape_metric(p_metrics, name);
	}
	return v;
}

#endif
