package creditstream.registry.configindex;

import java.util.ArrayList;
import java.util.List;

import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.jandex.AnnotationInstance;
import org.jboss.jandex.AnnotationValue;
import org.jboss.jandex.DotName;
import org.jboss.jandex.Type;

import apicurio.common.app.components.config.index.DynamicPropertiesInfoRecorder;
import io.apicurio.common.apps.config.Dynamic;
import io.apicurio.common.apps.config.DynamicConfigPropertyDef;
import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import io.quarkus.arc.deployment.BeanDiscoveryFinishedBuildItem;
import io.quarkus.arc.deployment.SyntheticBeanBuildItem;
import io.quarkus.arc.processor.InjectionPointInfo;
import io.quarkus.deployment.annotations.BuildProducer;
import io.quarkus.deployment.annotations.BuildStep;
import io.quarkus.deployment.annotations.ExecutionTime;
import io.quarkus.deployment.annotations.Record;
import io.quarkus.runtime.RuntimeValue;

/**
 * Stand-in for the build step of apicurio-common-app-components-config-index-deployment
 * 0.1.18.Final (not on Maven Central): index every field injection point carrying both
 * {@code @ConfigProperty} and {@code @Dynamic} into the {@link DynamicConfigPropertyList}
 * bean Apicurio Registry reads its dynamic settings from. A dynamic property without a
 * default value fails the build.
 */
public class ConfigIndexStep {
    private static final DotName CONFIG_PROPERTY = DotName.createSimple(ConfigProperty.class.getName());
    private static final DotName DYNAMIC = DotName.createSimple(Dynamic.class.getName());

    @BuildStep
    @Record(ExecutionTime.RUNTIME_INIT)
    void dynamicProperties(DynamicPropertiesInfoRecorder recorder, BeanDiscoveryFinishedBuildItem discovery,
                           BuildProducer<SyntheticBeanBuildItem> beans) throws Exception {
        List<DynamicConfigPropertyDef> defs = new ArrayList<>();
        for (InjectionPointInfo ip : discovery.getInjectionPoints()) {
            AnnotationInstance cp = ip.getRequiredQualifier(CONFIG_PROPERTY);
            if (cp == null || !ip.isField() || ip.getTarget().asField().annotation(DYNAMIC) == null) {
                continue;
            }
            AnnotationInstance dyn = ip.getTarget().asField().annotation(DYNAMIC);
            Type actual = ip.getRequiredType().asParameterizedType().arguments().get(0);
            String name = cp.value("name").asString();
            AnnotationValue dflt = cp.value("defaultValue");
            if (dflt == null) {
                throw new IllegalStateException("dynamic config property " + name + " needs a default value");
            }
            DynamicConfigPropertyDef def = new DynamicConfigPropertyDef(name,
                    Class.forName(actual.name().toString()), dflt.asString());
            if (dyn.value("label") != null) def.setLabel(dyn.value("label").asString());
            if (dyn.value("description") != null) def.setDescription(dyn.value("description").asString());
            if (dyn.value("requires") != null) def.setRequires(dyn.value("requires").asStringArray());
            defs.add(def);
        }
        RuntimeValue<DynamicConfigPropertyList> value = recorder.initializePropertiesInfo(defs);
        beans.produce(SyntheticBeanBuildItem.configure(DynamicConfigPropertyList.class)
                .runtimeValue(value).unremovable().setRuntimeInit().done());
    }
}
