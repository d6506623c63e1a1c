package org.fhirivc.auth;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.security.servlet.UserDetailsServiceAutoConfiguration;

/**
 * The fhir-ivc test authorization server: OAuth 2.0 client credentials with {@code private_key_jwt}
 * client authentication, as SMART Backend Services asks of an EHR's token endpoint.
 *
 * <p>Endpoints (Spring Authorization Server): {@code POST /oauth2/token}, {@code GET /oauth2/jwks}
 * (the keys that sign access tokens), {@code GET /.well-known/oauth-authorization-server}. Ours:
 * {@code GET /clients/{id}/jwks.json} (each registered client's public keys, from the clients file)
 * and {@code GET /stats/token-requests} (how many token requests each client made, for the tests
 * that check there is no token storm). No users, no login page, no authorization code flow.
 */
@SpringBootApplication(exclude = UserDetailsServiceAutoConfiguration.class)
public class AuthServerApplication {

	public static void main(String[] args) {
		SpringApplication.run(AuthServerApplication.class, args);
	}
}
