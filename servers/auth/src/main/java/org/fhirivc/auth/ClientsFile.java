package org.fhirivc.auth;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The registered clients, read from a JSON file and read again whenever the file changes (so a test
 * or an operator can revoke a client without restarting the server):
 *
 * <pre>
 * {"audience": "fhir-ivc-hapi",
 *  "clients": [{"client_id": "job-1", "alg": "RS384", "jwks": {"keys": [...]},
 *               "scopes": ["system/*.rs", "system/*.read"], "token_ttl_s": 300, "revoked": false}]}
 * </pre>
 *
 * {@code jwks} holds public keys only (a private member is refused). {@code audience} is the
 * {@code aud} of every access token: the resource server (secured HAPI) checks the same value.
 */
public final class ClientsFile {

	/** One registered client. */
	public record Client(String clientId, String alg, String jwksJson, List<String> scopes, long tokenTtlSeconds,
			boolean revoked) {
	}

	private static final Pattern CLIENT_ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");
	private static final ObjectMapper JSON = new ObjectMapper();

	private final Path path;
	private FileTime loadedAt;
	private String audience = "fhir-ivc-hapi";
	private Map<String, Client> clients = Map.of();

	public ClientsFile(Path path) {
		this.path = path;
		reloadIfChanged();
	}

	public synchronized String audience() {
		reloadIfChanged();
		return audience;
	}

	/** The client, or null when it is not registered. */
	public synchronized Client find(String clientId) {
		reloadIfChanged();
		return clients.get(clientId);
	}

	private void reloadIfChanged() {
		try {
			FileTime modified = Files.getLastModifiedTime(path);
			if (modified.equals(loadedAt)) {
				return;
			}
			JsonNode root = JSON.readTree(path.toFile());
			Map<String, Client> read = new LinkedHashMap<>();
			for (JsonNode node : root.path("clients")) {
				Client client = parse(node);
				read.put(client.clientId(), client);
			}
			audience = root.path("audience").asText("fhir-ivc-hapi");
			clients = read;
			loadedAt = modified;
		} catch (IOException exc) {
			throw new UncheckedIOException("cannot read the clients file " + path, exc);
		}
	}

	private static Client parse(JsonNode node) {
		String id = node.path("client_id").asText("");
		if (!CLIENT_ID.matcher(id).matches()) {
			throw new IllegalArgumentException("client_id must match " + CLIENT_ID + ": '" + id + "'");
		}
		String alg = node.path("alg").asText("RS384");
		if (!alg.equals("RS384") && !alg.equals("ES384")) {
			throw new IllegalArgumentException(id + ": alg must be RS384 or ES384, not " + alg);
		}
		JsonNode jwks = node.path("jwks");
		for (JsonNode key : jwks.path("keys")) {
			if (key.has("d") || key.has("p") || key.has("q")) {
				throw new IllegalArgumentException(id + ": the jwks holds a private key; register public keys only");
			}
		}
		List<String> scopes = new ArrayList<>();
		node.path("scopes").forEach(scope -> scopes.add(scope.asText()));
		return new Client(id, alg, jwks.toString(), List.copyOf(scopes), node.path("token_ttl_s").asLong(300),
				node.path("revoked").asBoolean(false));
	}
}
