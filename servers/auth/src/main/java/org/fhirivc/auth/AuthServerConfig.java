package org.fhirivc.auth;

import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jose.jwk.source.ImmutableJWKSet;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.proc.SecurityContext;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.security.config.Customizer;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.http.SessionCreationPolicy;
import org.springframework.security.oauth2.core.AuthorizationGrantType;
import org.springframework.security.oauth2.core.ClientAuthenticationMethod;
import org.springframework.security.oauth2.jose.jws.SignatureAlgorithm;
import org.springframework.security.oauth2.server.authorization.OAuth2TokenType;
import org.springframework.security.oauth2.server.authorization.client.RegisteredClient;
import org.springframework.security.oauth2.server.authorization.client.RegisteredClientRepository;
import org.springframework.security.oauth2.server.authorization.config.annotation.web.configurers.OAuth2AuthorizationServerConfigurer;
import org.springframework.security.oauth2.server.authorization.settings.ClientSettings;
import org.springframework.security.oauth2.server.authorization.settings.OAuth2TokenFormat;
import org.springframework.security.oauth2.server.authorization.settings.TokenSettings;
import org.springframework.security.oauth2.server.authorization.token.JwtEncodingContext;
import org.springframework.security.oauth2.server.authorization.token.OAuth2TokenCustomizer;
import org.springframework.security.web.SecurityFilterChain;

/** Spring Authorization Server wiring: registered clients from the clients file, JWT access tokens. */
@Configuration(proxyBeanMethods = false)
public class AuthServerConfig {

	@Bean
	public ClientsFile clientsFile(@Value("${fhirivc.auth.clients-file}") String path) {
		return new ClientsFile(Path.of(path));
	}

	/** The token endpoint and the rest of the authorization server's own endpoints. */
	@Bean
	@Order(Ordered.HIGHEST_PRECEDENCE)
	public SecurityFilterChain authorizationServerChain(HttpSecurity http) throws Exception {
		OAuth2AuthorizationServerConfigurer server = OAuth2AuthorizationServerConfigurer.authorizationServer();
		http.securityMatcher(server.getEndpointsMatcher())
				.with(server, Customizer.withDefaults())
				.authorizeHttpRequests(requests -> requests.anyRequest().authenticated())
				.sessionManagement(session -> session.sessionCreationPolicy(SessionCreationPolicy.STATELESS));
		return http.build();
	}

	/** Our two read-only endpoints are open; nothing else is served. */
	@Bean
	@Order(Ordered.HIGHEST_PRECEDENCE + 1)
	public SecurityFilterChain publicChain(HttpSecurity http) throws Exception {
		http.authorizeHttpRequests(requests -> requests
						.requestMatchers("/clients/*/jwks.json", "/stats/token-requests").permitAll()
						.anyRequest().denyAll())
				.csrf(csrf -> csrf.disable())
				.sessionManagement(session -> session.sessionCreationPolicy(SessionCreationPolicy.STATELESS));
		return http.build();
	}

	/**
	 * Clients of the clients file; a revoked or unknown one is not found, so its token request is
	 * refused with {@code invalid_client}. Each client's public keys are fetched by the server from
	 * its own {@code /clients/{id}/jwks.json} (the JWKS URL of a SMART client registration).
	 */
	@Bean
	public RegisteredClientRepository registeredClients(ClientsFile clients,
			@Value("${fhirivc.auth.base-url:http://127.0.0.1:${server.port}}") String baseUrl) {
		return new RegisteredClientRepository() {
			@Override
			public void save(RegisteredClient registeredClient) {
				throw new UnsupportedOperationException("clients are registered in the clients file");
			}

			@Override
			public RegisteredClient findById(String id) {
				return findByClientId(id);
			}

			@Override
			public RegisteredClient findByClientId(String clientId) {
				ClientsFile.Client client = clients.find(clientId);
				if (client == null || client.revoked()) {
					return null;
				}
				return RegisteredClient.withId(client.clientId())
						.clientId(client.clientId())
						.clientAuthenticationMethod(ClientAuthenticationMethod.PRIVATE_KEY_JWT)
						.authorizationGrantType(AuthorizationGrantType.CLIENT_CREDENTIALS)
						.scopes(scopes -> scopes.addAll(client.scopes()))
						.clientSettings(ClientSettings.builder()
								.jwkSetUrl(baseUrl + "/clients/" + client.clientId() + "/jwks.json")
								.tokenEndpointAuthenticationSigningAlgorithm(SignatureAlgorithm.from(client.alg()))
								.build())
						.tokenSettings(TokenSettings.builder()
								.accessTokenFormat(OAuth2TokenFormat.SELF_CONTAINED)
								.accessTokenTimeToLive(Duration.ofSeconds(client.tokenTtlSeconds()))
								.build())
						.build();
			}
		};
	}

	/** Access tokens carry the resource server's audience and SMART's space-separated scope string. */
	@Bean
	public OAuth2TokenCustomizer<JwtEncodingContext> accessTokenClaims(ClientsFile clients) {
		return context -> {
			if (OAuth2TokenType.ACCESS_TOKEN.equals(context.getTokenType())) {
				context.getClaims().audience(List.of(clients.audience()));
				context.getClaims().claim("scope", String.join(" ", context.getAuthorizedScopes()));
			}
		};
	}

	/** The key that signs access tokens: made at start, never written anywhere (GET /oauth2/jwks). */
	@Bean
	public JWKSource<SecurityContext> signingKeys() throws Exception {
		RSAKey key = new RSAKeyGenerator(2048).keyID(UUID.randomUUID().toString()).generate();
		return new ImmutableJWKSet<>(new JWKSet(key));
	}
}
