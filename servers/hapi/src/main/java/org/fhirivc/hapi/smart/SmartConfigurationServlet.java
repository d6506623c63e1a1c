package org.fhirivc.hapi.smart;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/** {@code GET [base]/.well-known/smart-configuration}: where a backend client gets its token. */
public class SmartConfigurationServlet extends HttpServlet {

	private final String body;

	public SmartConfigurationServlet(String tokenEndpoint) {
		if (tokenEndpoint.contains("\"") || tokenEndpoint.contains("\\")) {
			throw new IllegalArgumentException("fhirivc.smart.token-endpoint must be a plain URL");
		}
		this.body = "{\"token_endpoint\": \"" + tokenEndpoint + "\",\n"
				+ " \"grant_types_supported\": [\"client_credentials\"],\n"
				+ " \"token_endpoint_auth_methods_supported\": [\"private_key_jwt\"],\n"
				+ " \"token_endpoint_auth_signing_alg_values_supported\": [\"RS384\", \"ES384\"],\n"
				+ " \"scopes_supported\": [\"system/*.cruds\", \"system/*.rs\", \"system/*.read\", \"system/*.write\"],\n"
				+ " \"capabilities\": [\"client-confidential-asymmetric\", \"permission-v1\", \"permission-v2\"]}\n";
	}

	@Override
	protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
		response.setContentType("application/json");
		response.setCharacterEncoding("UTF-8");
		response.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
	}
}
