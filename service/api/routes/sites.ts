import { PairedSite, PairingCode, PairRequest, SiteParams, SitesList } from '../../../shared/api/sites.js';
import type { SiteService } from '../../sync/sites.js';
import { route, type RouteDef } from '../route.js';

export function siteRoutes(sites: SiteService): RouteDef[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/sites',
      operationId: 'listSites',
      summary: 'This site (id, name, public address) and its paired peers: state, round-trip time, last error, replication lag (null until replication reports it), and on the site that joined, its join (joining with progress, then synced)',
      tag: 'sites',
      auth: 'read',
      response: SitesList,
      handler: () => sites.list(),
    }),
    route({
      method: 'post',
      path: '/api/v1/sites/pairing-code',
      operationId: 'makePairingCode',
      summary: 'Makes the one-time code another site pairs with (replaces the previous one): 10 minutes, single use, void after 5 wrong tries',
      tag: 'sites',
      auth: 'admin',
      status: 201,
      response: PairingCode,
      handler: ({ res }) => {
        res.setHeader('cache-control', 'no-store');
        return sites.makeCode();
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/sites',
      operationId: 'pairSite',
      summary: 'Pairs this site with the site at `url` that shows `code` (a PAKE inside TLS, then both pin each other’s certificate); this site then opens the link and joins that site’s installation: it adopts its users, API tokens and configuration (its own instances kept under this site), so a session here whose user now has the installation’s password ends (`adoption`)',
      tag: 'sites',
      auth: 'admin',
      body: PairRequest,
      status: 201,
      response: PairedSite,
      errors: [{ status: 409, description: 'the two sites are paired already' }, { status: 503, description: 'the other site cannot be reached, or the pairing did not complete' }],
      async handler({ body, principal }) {
        return sites.pair(body.url, body.code, principal?.kind === 'session' ? principal.name : undefined);
      },
    }),
    route({
      method: 'delete',
      path: '/api/v1/sites/:id',
      operationId: 'unpairSite',
      summary: 'Unpairs a site: its pin is dropped, the change log no longer keeps entries for it; a connected peer is told at once, another learns it when it next connects',
      tag: 'sites',
      auth: 'admin',
      params: SiteParams,
      // /api/v1/sites/pairing-code is a path of its own: another method there is no route (404), not an unpairing
      before: [(req, _res, next) => (req.params['id'] === 'pairing-code' ? next('route') : next())],
      errors: [404],
      async handler({ params }) {
        await sites.unpair(params.id);
      },
    }),
  ];
}
