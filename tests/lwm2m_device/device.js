// An LwM2M device on lwm2m-node-lib, driven by the tests: one JSON command per line on stdin, one JSON
// event per line on stdout. Arguments: server host, server port, endpoint name, lifetime in seconds.
'use strict';

const readline = require('readline');
const lwm2m = require('lwm2m-node-lib').client;
const config = require('lwm2m-node-lib/config');

const [host, port, endpoint, lifetime] = process.argv.slice(2);
config.logLevel = config.client.logLevel = 'FATAL';  // the library logs on stdout, where our events go
require('logops').setLevel('FATAL');
config.client.lifetime = lifetime || '300';
let device = null;

function say(event) {
    process.stdout.write(JSON.stringify(event) + '\n');
}

function done(what) {
    return (error) => say(error ? {event: 'error', what: what, error: String(error)} : {event: what});
}

function handlers(info) {
    lwm2m.setHandler(info.serverInfo, 'write', (objectType, objectId, resourceId, value, callback) => {
        say({event: 'written', path: `/${objectType}/${objectId}/${resourceId}`, value: String(value)});
        callback(null);
    });
    lwm2m.setHandler(info.serverInfo, 'execute', (objectType, objectId, resourceId, args, callback) => {
        say({event: 'executed', path: `/${objectType}/${objectId}/${resourceId}`, args: args || ''});
        callback(null);
    });
}

const commands = {
    create: (c, next) => lwm2m.registry.create(c.path, next),
    set: (c, next) => lwm2m.registry.setResource(c.path, c.resource, String(c.value), next),
    register: (c, next) => lwm2m.register(host, Number(port), '', endpoint, (error, info) => {
        if (!error) {
            device = info;
            handlers(info);
        }
        next(error);
    }),
    update: (c, next) => lwm2m.update(device, (error, info) => {
        if (!error && info) {
            device = info;
            handlers(info);  // an update listens on a new port, with the library's default handlers
        }
        next(error);
    }),
    unregister: (c, next) => lwm2m.unregister(device, next),
};

lwm2m.init(config);
readline.createInterface({input: process.stdin}).on('line', (line) => {
    const command = JSON.parse(line);
    commands[command.do](command, done(command.do));
});
say({event: 'ready'});
