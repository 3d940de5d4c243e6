import { test } from "node:test";
import assert from "node:assert/strict";
import { HttpRequest } from "@azure/functions";
import { actorOf, holdsRole, parsePrincipal, PRINCIPAL_HEADER, ROLES } from "../../../lib/http/auth";

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64");
const request = (principal?: unknown) =>
  new HttpRequest({
    url: "http://127.0.0.1/api/x",
    method: "POST",
    headers: principal === undefined ? {} : { [PRINCIPAL_HEADER]: encode(principal) },
  });

// The shape App Service Authentication forwards for a Microsoft Entra ID caller.
const easyAuth = {
  auth_typ: "aad",
  name_typ: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
  role_typ: "roles",
  claims: [
    { typ: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", val: "Ada Lovelace" },
    { typ: "http://schemas.microsoft.com/identity/claims/objectidentifier", val: "0b6f5a1e-oid" },
    { typ: "roles", val: ROLES.deploymentsWrite },
    { typ: "roles", val: ROLES.durableAdmin },
  ],
};

test("the EasyAuth principal gives its name, object id and roles", () => {
  const p = parsePrincipal(encode(easyAuth));
  assert.equal(p.name, "Ada Lovelace");
  assert.equal(p.objectId, "0b6f5a1e-oid");
  assert.deepEqual(p.roles.sort(), [ROLES.deploymentsWrite, ROLES.durableAdmin].sort());
});

test("the actor is the principal's name and object id, or local without a principal", () => {
  assert.deepEqual(actorOf(request(easyAuth)), { name: "Ada Lovelace", objectId: "0b6f5a1e-oid" });
  assert.deepEqual(actorOf(request()), { name: "local" });
  // No name claim: the object id names the actor.
  assert.deepEqual(actorOf(request({ claims: [{ typ: "oid", val: "abc" }] })), {
    name: "abc",
    objectId: "abc",
  });
});

test("holdsRole: every caller with role checks off; only the role's holders with them on", () => {
  assert.equal(holdsRole(request(), false, ROLES.durableAdmin), true);
  assert.equal(holdsRole(request(), true, ROLES.durableAdmin), false);
  assert.equal(holdsRole(request(easyAuth), true, ROLES.durableAdmin), true);
  assert.equal(holdsRole(request(easyAuth), true, ROLES.auditRead), false);
});
