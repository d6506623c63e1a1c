package org.fhirivc.hapi.smart;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * SMART system scopes, and which FHIR interaction each request is.
 *
 * <p>Scopes: {@code system/<Type|*>.<permissions>} with SMART v2 permissions (a subset of
 * {@code cruds}, in that order: create, read, update, delete, search) or the v1 forms {@code read}
 * (= rs), {@code write} (= cud) and {@code *} (= cruds). A v2 scope with a query
 * ({@code system/Observation.rs?category=...}) grants nothing here: this server does not narrow
 * searches, so it refuses rather than over-grants. Other scopes (openid, patient/, user/) grant
 * nothing.
 *
 * <p>Interactions, from the method and the path below {@code /fhir}:
 * <ul>
 * <li>GET/HEAD {@code [type]/[id]} (and its history, vread) = r on the type; GET {@code [type]} or
 * {@code [type]/_search} or POST {@code [type]/_search} = s on the type; GET of the base or of a
 * system-level path = s on every type.
 * <li>POST {@code [type]} = c; PUT/PATCH {@code [type]/[id]} or {@code [type]?query} = u;
 * DELETE = d.
 * <li>POST of the base (a transaction or batch Bundle) = c and u on every type ({@code system/*.cu}
 * or wider): the entries are not looked into, so the request needs scopes covering any of them.
 * <li>An operation by GET, or one that changes nothing ({@code $everything}, {@code $validate},
 * {@code $export}, {@code $meta}, terminology lookups) = r on its type (every type at system
 * level); any other operation = c and u, as it may change data.
 * </ul>
 */
public final class SmartScopes {

	private static final Pattern SCOPE = Pattern.compile("system/([A-Z][A-Za-z]*|\\*)\\.([a-z*]+)");
	private static final Pattern V2 = Pattern.compile("c?r?u?d?s?");
	/** Operations that change nothing (also when POSTed): they need r, like a read. */
	private static final Set<String> READ_ONLY_OPERATIONS = Set.of("$validate", "$everything", "$export", "$meta",
			"$expand", "$lookup", "$validate-code", "$translate", "$subsumes");

	/** What a request needs: these permission letters on this resource type ("*" = every type). */
	public record Need(String resourceType, String permissions) {
	}

	private final Map<String, String> granted;

	private SmartScopes(Map<String, String> granted) {
		this.granted = granted;
	}

	/** The permissions of a space-separated scope claim (or of a list of scopes). */
	public static SmartScopes parse(List<String> scopes) {
		Map<String, String> granted = new HashMap<>();
		for (String scope : scopes) {
			Matcher m = SCOPE.matcher(scope);
			if (!m.matches()) {
				continue;
			}
			String permissions = switch (m.group(2)) {
				case "read" -> "rs";
				case "write" -> "cud";
				case "*" -> "cruds";
				default -> V2.matcher(m.group(2)).matches() ? m.group(2) : "";
			};
			granted.merge(m.group(1), permissions, (a, b) -> a + b);
		}
		return new SmartScopes(granted);
	}

	/** True when the scopes grant every letter of {@code need} on its type (or on every type). */
	public boolean allows(Need need) {
		String onType = granted.getOrDefault(need.resourceType(), "");
		String onAll = granted.getOrDefault("*", "");
		for (char letter : need.permissions().toCharArray()) {
			boolean viaAll = onAll.indexOf(letter) >= 0;
			boolean viaType = !need.resourceType().equals("*") && onType.indexOf(letter) >= 0;
			if (!viaAll && !viaType) {
				return false;
			}
		}
		return true;
	}

	/** What a request to {@code path} (below the FHIR base, no leading slash) needs. */
	public static Need need(String method, String path) {
		String[] segments = path.isEmpty() ? new String[0] : path.split("/");
		String verb = method.toUpperCase(Locale.ROOT);
		boolean typed = segments.length > 0 && !segments[0].isEmpty() && Character.isUpperCase(segments[0].charAt(0));
		String type = typed ? segments[0] : "*";
		String last = segments.length > 0 ? segments[segments.length - 1] : "";
		if (last.startsWith("$")) {
			boolean reads = verb.equals("GET") || READ_ONLY_OPERATIONS.contains(last);
			return new Need(type, reads ? "r" : "cu");
		}
		if (!typed) { // the base or a system-level path (_history, _search)
			return verb.equals("POST") && segments.length == 0 ? new Need("*", "cu") : new Need("*", "s");
		}
		boolean searchPath = segments.length == 1 || (segments.length == 2 && segments[1].equals("_search"));
		return switch (verb) {
			case "GET", "HEAD" -> new Need(type, searchPath ? "s" : "r");
			case "POST" -> searchPath && segments.length == 2 ? new Need(type, "s") : new Need(type, "c");
			case "PUT", "PATCH" -> new Need(type, "u");
			case "DELETE" -> new Need(type, "d");
			default -> new Need(type, "cruds");
		};
	}
}
