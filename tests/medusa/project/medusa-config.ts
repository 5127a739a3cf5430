// The Medusa server shopsync's tests run against: no admin build, no Redis (in-memory
// event bus, cache and locking), secrets and ports from the environment the harness sets.
import { defineConfig, loadEnv } from "@medusajs/framework/utils"

loadEnv(process.env.NODE_ENV || "development", process.cwd())

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    http: {
      storeCors: process.env.STORE_CORS || "http://127.0.0.1",
      adminCors: process.env.ADMIN_CORS || "http://127.0.0.1",
      authCors: process.env.AUTH_CORS || "http://127.0.0.1",
      jwtSecret: process.env.JWT_SECRET || "shopsync-test-jwt",
      cookieSecret: process.env.COOKIE_SECRET || "shopsync-test-cookie",
    },
  },
  admin: { disable: true },
})
