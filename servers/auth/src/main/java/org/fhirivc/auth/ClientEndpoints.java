package org.fhirivc.auth;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.core.Ordered;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.filter.OncePerRequestFilter;
import org.springframework.web.server.ResponseStatusException;

/** The clients' public JWKS, and a count of token requests per client and answer status. */
@RestController
public class ClientEndpoints {

	private static final Logger LOG = LoggerFactory.getLogger("fhirivc.tokens");

	private final ClientsFile clients;
	private final Map<String, Map<Integer, AtomicLong>> tokenRequests = new ConcurrentHashMap<>();

	public ClientEndpoints(ClientsFile clients) {
		this.clients = clients;
	}

	@GetMapping(value = "/clients/{clientId}/jwks.json", produces = MediaType.APPLICATION_JSON_VALUE)
	public String jwks(@PathVariable String clientId) {
		ClientsFile.Client client = clients.find(clientId);
		if (client == null || client.revoked()) {
			throw new ResponseStatusException(HttpStatus.NOT_FOUND);
		}
		return client.jwksJson();
	}

	/** {"client-id": {"200": n, "401": m}, ...}: every POST /oauth2/token since the start. */
	@GetMapping(value = "/stats/token-requests", produces = MediaType.APPLICATION_JSON_VALUE)
	public Map<String, Map<String, Long>> tokenRequests() {
		Map<String, Map<String, Long>> out = new TreeMap<>();
		tokenRequests.forEach((client, byStatus) -> {
			Map<String, Long> counts = new TreeMap<>();
			byStatus.forEach((status, count) -> counts.put(String.valueOf(status), count.get()));
			out.put(client, counts);
		});
		return out;
	}

	/** Runs before Spring Security, so refused token requests are counted too. */
	@Bean
	public static FilterRegistrationBean<OncePerRequestFilter> tokenRequestCounter(ClientEndpoints endpoints) {
		OncePerRequestFilter filter = new OncePerRequestFilter() {
			@Override
			protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response,
					FilterChain chain) throws ServletException, IOException {
				chain.doFilter(request, response);
				if ("POST".equals(request.getMethod()) && "/oauth2/token".equals(request.getRequestURI())) {
					String client = request.getParameter("client_id");
					String key = client == null || client.isBlank() ? "(none)" : client;
					endpoints.tokenRequests.computeIfAbsent(key, k -> new ConcurrentHashMap<>())
							.computeIfAbsent(response.getStatus(), s -> new AtomicLong())
							.incrementAndGet();
					// the client id and status only: never the assertion or the token
					LOG.info("POST /oauth2/token client_id={} status={}", key, response.getStatus());
				}
			}
		};
		FilterRegistrationBean<OncePerRequestFilter> registration = new FilterRegistrationBean<>(filter);
		registration.setOrder(Ordered.HIGHEST_PRECEDENCE);
		registration.addUrlPatterns("/oauth2/token");
		return registration;
	}
}
