// The contract-definition helpers of @clamator/protocol, written for the
// clamator-rs exporter: same names and result shape ({service, methods},
// notifications marked `notification: true`), same name checks.
'use strict';

const SERVICE_RE = /^[a-z][a-z0-9-]*$/;
const METHOD_RE = /^[a-z][a-zA-Z0-9]*$/;

function defineMethod(def) {
  return def;
}

function defineNotification(def) {
  return Object.assign({}, def, { notification: true });
}

function defineContract(service, methods) {
  if (!SERVICE_RE.test(service)) {
    throw new Error(`invalid service name "${service}" (it must match ${SERVICE_RE.source})`);
  }
  for (const [name, def] of Object.entries(methods)) {
    if (!METHOD_RE.test(name)) {
      throw new Error(`invalid method name "${name}" in ${service} (it must match ${METHOD_RE.source})`);
    }
    if (def.notification === true) {
      if ('result' in def) throw new Error(`notification "${name}" in ${service} must not have a result`);
    } else if (def.result === undefined) {
      throw new Error(`method "${name}" in ${service} needs a result schema (or use defineNotification)`);
    }
  }
  return { service, methods };
}

module.exports = { SERVICE_RE, METHOD_RE, defineContract, defineMethod, defineNotification };
