import { test } from "node:test";
import assert from "node:assert/strict";
import { compileRoute, matchRoute } from "../../../dev/host/routes";

test("route templates match like the Functions host", () => {
  const cases: [string, string, Record<string, string> | undefined][] = [
    ["hello", "/hello", {}],
    ["hello", "/HELLO/", {}],
    ["hello", "/hello/x", undefined],
    ["tenants/{tenant}", "/tenants/contoso", { tenant: "contoso" }],
    ["tenants/{tenant}", "/tenants", undefined],
    ["greet/{name?}", "/greet", {}],
    ["greet/{name?}", "/greet/ada", { name: "ada" }],
    ["items/{id:int}", "/items/12", { id: "12" }],
    ["items/{id:int}", "/items/x", undefined],
    [
      "items/{id:guid}",
      "/items/6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f",
      { id: "6f1c2b7e-3d4a-4c5b-9e8f-0a1b2c3d4e5f" },
    ],
    ["files/{*rest}", "/files/a/b", { rest: "a/b" }],
    ["files/{*rest}", "/files", {}],
    ["a/{x}/b/{y}", "/a/1/b/two%20words", { x: "1", y: "two words" }],
    ["items/{id}", "/items/a%2fb", { id: "a/b" }],
  ];
  for (const [template, path, expected] of cases) {
    assert.deepEqual(matchRoute(compileRoute(template), path), expected, `${template} vs ${path}`);
  }
});

test("literal routes are more specific than parameterised ones", () => {
  assert.ok(compileRoute("tenants/new").specificity > compileRoute("tenants/{tenant}").specificity);
});

test("unsupported templates are refused at load time", () => {
  assert.throws(() => compileRoute("a/{b}c"), /Unsupported route segment/);
});

test("a malformed escape stays as it was, as ASP.NET Core leaves it, instead of throwing", () => {
  const cases: [string, string, Record<string, string>][] = [
    ["items/{id}", "/items/%zz", { id: "%zz" }],
    ["items/{id}", "/items/%ff", { id: "%ff" }],
    ["items/{id}", "/items/%E0%A4%A", { id: "%E0%A4%A" }],
    ["items/{id}", "/items/a%20b%zz", { id: "a b%zz" }],
    ["items/{id}", "/items/%C3%A9%", { id: "é%" }],
    ["files/{*rest}", "/files/%2e%2e/%zz", { rest: "../%zz" }],
  ];
  for (const [template, path, expected] of cases) {
    assert.deepEqual(matchRoute(compileRoute(template), path), expected, `${template} vs ${path}`);
  }
});
