package org.fhirivc.hapi.smart;

import static org.springframework.security.web.util.matcher.AntPathRequestMatcher.antMatcher;

import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.authorization.AuthorizationDecision;
import org.springframework.security.authorization.AuthorizationManager;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.annotation.web.configuration.EnableWebSecurity;
import org.springframework.security.config.http.SessionCreationPolicy;
import org.springframework.security.core.Authentication;
import org.springframework.security.oauth2.core.DelegatingOAuth2TokenValidator;
import org.springframework.security.oauth2.core.OAuth2TokenValidator;
import org.springframework.security.oauth2.jose.jws.SignatureAlgorithm;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.security.oauth2.jwt.JwtClaimValidator;
import org.springframework.security.oauth2.jwt.JwtDecoder;
import org.springframework.security.oauth2.jwt.JwtValidators;
import org.springframework.security.oauth2.jwt.NimbusJwtDecoder;
import org.springframework.security.oauth2.server.resource.authentication.JwtAuthenticationToken;
import org.springframework.security.web.SecurityFilterChain;
import org.springframework.security.web.access.intercept.RequestAuthorizationContext;

/**
 * The secured mode of the fhir-ivc HAPI server: an OAuth 2.0 resource server (Spring Security) in
 * front of {@code /fhir/*} that accepts only access tokens of the configured authorization server.
 *
 * <p>Off unless asked for: this class is not imported by {@code FhirServerApplication}; the
 * secured mode adds it as a source, with its properties (scripts/auth-server hapi-args prints them):
 *
 * <pre>
 * --spring.main.sources=org.fhirivc.hapi.smart.SmartSecurityConfig
 * --fhirivc.smart.jwk-set-uri=http://127.0.0.1:PORT/oauth2/jwks     (the token signing keys)
 * --fhirivc.smart.token-endpoint=http://127.0.0.1:PORT/oauth2/token (for smart-configuration)
 * --fhirivc.smart.audience=fhir-ivc-hapi                            (the aud every token must hold)
 * </pre>
 *
 * A token is accepted when its signature verifies against the JWKS (RS256, fetched on first use and
 * cached), it has not expired ({@code exp}, 60 s clock skew) and {@code aud} holds the audience; a
 * request then needs the SMART scope of its interaction ({@link SmartScopes}), else 403 with
 * {@code WWW-Authenticate: Bearer error="insufficient_scope"}. {@code /fhir/metadata} and
 * {@code /fhir/.well-known/smart-configuration} are open, as SMART asks.
 */
@Configuration(proxyBeanMethods = false)
@EnableWebSecurity
public class SmartSecurityConfig {

	private static final Logger LOG = LoggerFactory.getLogger(SmartSecurityConfig.class);

	@Bean
	public JwtDecoder smartJwtDecoder(@Value("${fhirivc.smart.jwk-set-uri}") String jwkSetUri,
			@Value("${fhirivc.smart.audience}") String audience) {
		NimbusJwtDecoder decoder = NimbusJwtDecoder.withJwkSetUri(jwkSetUri)
				.jwsAlgorithms(algs -> algs.addAll(List.of(SignatureAlgorithm.RS256, SignatureAlgorithm.RS384,
						SignatureAlgorithm.ES384)))
				.build();
		OAuth2TokenValidator<Jwt> hasAudience = new JwtClaimValidator<Collection<String>>("aud",
				aud -> aud != null && aud.contains(audience));
		decoder.setJwtValidator(new DelegatingOAuth2TokenValidator<>(JwtValidators.createDefault(), hasAudience));
		LOG.info("secured mode: tokens from {} with audience {}", jwkSetUri, audience);
		return decoder;
	}

	@Bean
	public SecurityFilterChain smartSecurityChain(HttpSecurity http, JwtDecoder decoder) throws Exception {
		http.csrf(csrf -> csrf.disable())
				.sessionManagement(session -> session.sessionCreationPolicy(SessionCreationPolicy.STATELESS))
				.authorizeHttpRequests(requests -> requests
						// Ant matchers: Spring MVC is on the classpath (HAPI's) but has no context here
						.requestMatchers(antMatcher("/fhir/metadata"), antMatcher("/fhir/.well-known/smart-configuration"))
						.permitAll()
						.requestMatchers(antMatcher("/fhir/**")).access(new ScopeCheck())
						.anyRequest().denyAll())
				.oauth2ResourceServer(server -> server.jwt(jwt -> jwt.decoder(decoder)));
		return http.build();
	}

	@Bean
	public ServletRegistrationBean<SmartConfigurationServlet> smartConfiguration(
			@Value("${fhirivc.smart.token-endpoint}") String tokenEndpoint) {
		ServletRegistrationBean<SmartConfigurationServlet> registration = new ServletRegistrationBean<>(
				new SmartConfigurationServlet(tokenEndpoint), "/fhir/.well-known/smart-configuration");
		registration.setName("smart-configuration");
		return registration;
	}

	/** The SMART scope check of one request (the token itself is already verified). */
	static final class ScopeCheck implements AuthorizationManager<RequestAuthorizationContext> {

		@Override
		public AuthorizationDecision check(Supplier<Authentication> authentication, RequestAuthorizationContext context) {
			if (!(authentication.get() instanceof JwtAuthenticationToken token)) {
				return new AuthorizationDecision(false);
			}
			String path = context.getRequest().getRequestURI().substring(context.getRequest().getContextPath().length());
			path = path.length() > "/fhir/".length() ? path.substring("/fhir/".length()) : "";
			SmartScopes.Need need = SmartScopes.need(context.getRequest().getMethod(), path);
			SmartScopes scopes = SmartScopes.parse(scopeList(token.getToken()));
			boolean allowed = scopes.allows(need);
			if (!allowed) {
				LOG.info("refused {} /fhir/{}: needs system/{}.{} (client {})", context.getRequest().getMethod(), path,
						need.resourceType(), need.permissions(), token.getToken().getSubject());
			}
			return new AuthorizationDecision(allowed);
		}

		private static List<String> scopeList(Jwt jwt) {
			Object claim = jwt.getClaims().get("scope");
			if (claim instanceof String text) {
				return Arrays.asList(text.trim().split("\\s+"));
			}
			if (claim instanceof Collection<?> values) {
				return values.stream().map(String::valueOf).toList();
			}
			return List.of();
		}
	}
}
