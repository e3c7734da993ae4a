/** The project's config namespace: keys are `glance-rolling-upgrade:<key>`. */
export const CONFIG_NAMESPACE = "glance-rolling-upgrade";
